# eval: re-parses its arguments as shell text in the current shell.
x=1
eval 'x=2; y=3'
echo "$x $y"
cmd='echo "evaluated: $x"'
eval "$cmd"
name=var_$x
eval "$name=dynamic"
eval "echo \$$name"
eval 'for i in a b; do printf "%s" $i; done; echo'
eval 'f() { echo "defined by eval"; }'
f
eval false
echo "status $?"
eval
echo "empty eval status $?"
eval 'echo one;' 'echo two'
eval "$(echo 'z=from-subst')"
echo "$z"
