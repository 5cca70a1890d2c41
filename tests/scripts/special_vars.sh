# Variables the shell sets itself: UID, EUID and PPID are the process's own
# and read-only; HOSTNAME and OSTYPE are set; PWD is exported; $_ is the
# last word of the previous simple command.
[ "$UID" = "$(id -u)" ] && echo "uid ok"
[ "$EUID" = "$(id -u)" ] && echo "euid ok"
UID=1 2>/dev/null || echo "UID is read-only"
( EUID=2 ) 2>/dev/null || echo "EUID is read-only"
[ -n "$HOSTNAME" ] && echo "hostname set"
echo "ostype $OSTYPE"
env | grep -q '^PWD=' && echo "PWD exported"
echo hello world
echo "last: $_"
x='with spaces'
: $x
echo "split: $_"
: 'foo'"bar"
echo "quoted: $_ ${_}"
a=1
echo "after assignment: [$_]"
declare s=bar
echo "declare: [$_]"
f() { echo "in f: $_"; }
f one two
echo "after f: $_"
echo -e 'abcd\u0065f \U00000067 \u6|'
