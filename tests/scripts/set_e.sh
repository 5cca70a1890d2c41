# set -e stops the script at the first failing simple command.
set -e
echo one
true
x=$(echo ok)
echo "two $x"
false
echo "not reached"
