# test and [: strings, integers, files, negation, -a/-o and status.
t() { if "$@"; then echo "yes: $*"; else echo "no ($?): $*"; fi; }
t test -n abc
t test -z ""
t [ abc = abc ]
t [ abc != abc ]
t [ "" ]
t [ x ]
t [ 3 -lt 10 ]
t [ 10 -le 10 ]
t [ 3 -gt 10 ]
t [ -5 -ge -5 ]
t [ 2 -eq 02 ]
t [ 2 -ne 2 ]
t [ ! -z x ]
t [ -n x -a -z "" ]
t [ -z x -o -n x ]
t [ \( 1 -eq 1 \) ]
t [ a \< b ]
dir=$(mktemp -d)
cd "$dir" || exit 1
touch file
mkdir d
t [ -e file ]
t [ -f file ]
t [ -d file ]
t [ -d d ]
t [ -s file ]
echo data > file
t [ -s file ]
t [ -r file ]
t [ -e nope ]
t [ -x /bin/sh ]
t [ -L file ]
cd /
rm -r "$dir"
t test
t [ ]
[ 1 -lt ] 2>/dev/null; echo "bad expression status $?"
[ abc 2>/dev/null; echo "missing bracket status $?"
