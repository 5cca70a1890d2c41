# Small bash behaviours: zero-padded brace sequences, `${x////c}`, empty
# arithmetic, `set -`/`set +`, getopts after new arguments, unset of a
# caller's local, errors inside eval.
echo {01..03} {09..11} {10..08} {-01..1} {1..003}
x=/a/b/
echo "${x////_}" "${x///}" "${x/#/^}" "${x/%/$}" "${x/\//:}"
echo "empty: $(( )) $((  ))"
(( )); echo "(( )) status $?"
for (( ; ; )); do echo "empty for condition runs"; break; done
set -- one two
set -
echo "after set -: $*"
set + three
echo "after set +: $*"
set -- -a
while getopts a opt; do echo "opt $opt"; done
set --
getopts a opt; echo "no args: status $? OPTIND=$OPTIND"
set -- -b
while getopts b opt; do echo "again $opt OPTIND=$OPTIND"; done
getopts "c:" opt -c10; getopts "c:" opt -c10
echo "at the end: opt=$opt OPTARG=${OPTARG-unset}"
unlocal() { unset "$@"; }
inner() { local v=inner; unlocal v; echo "inner sees: ${v-unset}"; }
outer() { local v=outer; inner; echo "outer sees: $v"; }
v=global
outer
readonly ro=1
eval 'ro=2; echo never'
echo "eval status $?"
eval 'echo $(( 1 / 0 )); echo never'
echo "eval status $?"
kill -l 10 SIGSEGV 12 0 130
kill -l 10 BAD 2>/dev/null; echo "kill -l BAD: $?"
unset %; echo "unset %: $?"
unset -v % 2>/dev/null; echo "unset -v %: $?"
a[1 + 2]=x b[ 2 * 2 ]=y; echo "blanks in subscripts: ${a[3]} ${b[4]}"
if true; then c[1 + 1]=z; fi; echo "${c[2]}"
echo a[1 2] x a[1 + 2]=y
