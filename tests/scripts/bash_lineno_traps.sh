# $LINENO, the DEBUG and RETURN traps, and the dynamic variables.
echo "line $LINENO"
f() {
    echo "in f: $LINENO"
}
f
x=$(echo "sub $LINENO"
echo "sub $LINENO")
echo "$x"
eval 'echo "eval $LINENO"
echo "eval $LINENO"'
for i in a b; do echo "$i $LINENO"; done
(( n = LINENO )); echo "arith $n"
[[ $LINENO == 15 ]] && echo "in [[ ]]"
case $LINENO in 16) echo "case 16";; *) echo "case other";; esac
debuglog() { echo "  [$1 \$?=$2]"; return 7; }
trap 'debuglog $LINENO $?' DEBUG
false
echo "status kept: $?"
echo a; echo b
{ echo c; echo d; } | cat
echo e | cat
for w in 1 2; do :; done
for (( i = 0; i < 1; i++ )); do :; done
case x in x) echo matched;; esac
g() { echo "g runs without the trap"; }
g
trap - DEBUG
echo "trap -p after removing:"
trap -p
printf 'echo "sourced $LINENO"\nreturn 3\n' > "${TMPDIR:-/tmp}/nsh-src-$$"
trap 'echo "RETURN trap, status $?"' RETURN
. "${TMPDIR:-/tmp}/nsh-src-$$"
trap -p RETURN
trap - RETURN
rm -f "${TMPDIR:-/tmp}/nsh-src-$$"
trap 'false; echo "err trap at $LINENO"' ERR
false
trap - ERR
echo "subshell level $BASH_SUBSHELL $(echo $BASH_SUBSHELL) $( (echo $BASH_SUBSHELL) )"
r1=$RANDOM r2=$RANDOM
(( r1 >= 0 && r1 < 32768 && r2 >= 0 && r2 < 32768 )) && echo "RANDOM in range"
[[ $SECONDS =~ ^[0-9]+$ ]] && echo "SECONDS is a number"
[[ $EPOCHREALTIME =~ ^[0-9]+\.[0-9]{6}$ ]] && echo "EPOCHREALTIME has microseconds"
(( EPOCHSECONDS > 1700000000 )) && echo "EPOCHSECONDS is now"
[[ $BASHPID == $$ ]] && echo "BASHPID is the shell's"
