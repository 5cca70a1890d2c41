# trap details: a number first resets (`trap 0 2`), a subshell lists its
# parent's traps until it sets its own, `set` quotes as bash does, and a
# syntax error in the EXIT trap leaves the exit status alone.
trap 'echo INT' INT
trap 'echo bye' EXIT
echo "sub: $(trap)"
( trap )
trap | cat
( trap 'echo own' USR1; trap )
trap 2 EXIT
echo "after trap 2 EXIT:"
trap
trap " 42 " EXIT 2>/dev/null; echo "spaces around a number: $?"
trap -1 EXIT 2>/dev/null; echo "trap -1: $?"
a='x y' b="it's" c='~x' d='a#b' e='#a' f='a=b' g=$'t\tx' h='x*'
set | grep '^[a-h]='
trap 'echo <' EXIT
