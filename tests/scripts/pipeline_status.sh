# The status of a pipeline is its last command's; ! negates it.
true | false; echo "true|false $?"
false | true; echo "false|true $?"
! true; echo "!true $?"
! false; echo "!false $?"
! true | false; echo "!(true|false) $?"
sh -c 'exit 3' | sh -c 'exit 4'; echo "3|4 $?"
echo x | grep -q x; echo "grep found $?"
echo x | grep -q y; echo "grep missed $?"
! echo x | grep -q y && echo "negated pipeline in &&"
seq 1000 | head -n 2
echo "head status $?"
f() { return 9; }
echo a | f; echo "function in pipeline $?"
echo done | cat | cat | cat
