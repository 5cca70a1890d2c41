# A script's status is its exit argument, or the last command's status.
f() { return 2; }
f
echo "f returned $?"
( exit 300 ); echo "exit 300 -> $?"
false
exit
