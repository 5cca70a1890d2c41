# Assignments before a command last for that command only, special
# builtins included (bash outside POSIX mode); `FOO=1 export FOO` keeps it.
# A list before a command is its text; an element is refused and the
# command still runs. Out-of-range negative subscripts read empty or 0.
FOO=foo readonly v=1; echo "FOO=${FOO-unset}"
FOO=foo eval 'echo "in eval: $FOO"'; echo "after eval: ${FOO-unset}"
FOO=foo : ; echo "after colon: ${FOO-unset}"
x=0; x=5 unset x; echo "x=${x-unset}"
y=5 unset y; echo "y=${y-unset}"
BAR=1 export BAR; echo "BAR=$BAR"; env | grep '^BAR='
IFS=: set -- a:b; echo "[$IFS] $#"
L=(one "$HOME" three) env | grep '^L='
a[1]=x env | grep -c '^a' 2>/dev/null; echo "element before a command: done"
arr=(x y)
echo "[${arr[-5]}] [$((arr[-5]))] [${arr[-1]}]" 2>/dev/null
