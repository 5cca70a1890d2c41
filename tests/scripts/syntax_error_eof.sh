# A construct left open at the end of a script: the commands before it
# run, then bash reports the unexpected end of file (status 2).
# stderr: compared
echo before
x=1
echo "x is $x"
if [ "$x" = 1 ]; then
    echo never
