# break/continue edge cases, SHELLOPTS/BASHOPTS, and what local, export
# and readonly list.
while break; do echo never; done
echo "break in a condition ends the loop"
i=0
until (( i++ >= 3 )); do continue; done
echo "continue in an until loop: i=$i"
for x in a b; do ( continue; echo "continue in a subshell: $x" ); done
for x in a b; do echo "$x"; continue 1 2; echo never; done 2>/dev/null
echo "after too many arguments: $?"
for - in a; do echo never; done 2>/dev/null
echo "invalid loop variable: $?"
return 2>/dev/null
echo "return outside a function: $?"
case :$SHELLOPTS: in *:xtrace:*) echo xtrace on;; *) echo xtrace off;; esac
set -o pipefail -u
echo "$SHELLOPTS"
set +o pipefail +u
SHELLOPTS=x 2>/dev/null
echo "assigning SHELLOPTS: $?"
shopt -s nullglob
case :$BASHOPTS: in *:nullglob:*) echo "nullglob in BASHOPTS";; esac
shopt -u nullglob
export SHELLOPTS
bash -c 'echo "child sees: $SHELLOPTS"'
f() {
    local a=1 b
    local
    local -p a c
    readonly -p r1
    export -p e1
}
r1=1 e1=2
f
declare -p r1 e1
