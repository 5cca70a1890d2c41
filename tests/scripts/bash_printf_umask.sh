# bash builtins: printf's conversions, numbers, errors, -v and %(..)T;
# umask's octal and symbolic modes, -S and -p; NUL bytes dropped by
# command substitution, read and mapfile.
hex() { od -An -tx1 | tr -s ' '; }

echo '--- printf integers'
printf '[%d][%i][%5d][%-5d][%05d][%+d][% d]\n' 42 -7 42 42 -42 42 42
printf '[%6.4d][%.4d][%6.d][%06d]\n' 42 -42 42 -42
printf '[%x][%X][%o][%u][%#x][%#o][%#X]\n' 255 255 8 42 42 8 0
printf '[%u][%x]\n' -1 -42
printf '%d %d %d %d\n' 0x1F 017 +0xab ' -12'
printf '%d %d\n' "'A" '"b'
printf '%d|%u\n' 18446744073709551615 18446744073709551616
echo "status=$?"
printf '%d|%u\n' -9223372036854775809 -18446744073709551615
printf '%d\n' 3abc
echo "status=$?"
printf '%d\n' 64#a
echo "status=$?"
printf '%d\n' ' -5 '
echo "status=$?"
printf '%d %x\n' '' 08
echo "status=$?"
printf '[%*d][%-*d][%.*d][%*d]\n' 5 1 4 2 3 3 -4 9

echo '--- printf floats'
printf '[%f][%.2f][%8.3f][%-8.1f][%08.2f]\n' 3.14159 3.14159 2.5 2.5 -2.5
printf '[%e][%E][%g][%G][%g][%g]\n' 1234.5 0.00012 100000 1e-10 1e6 0.0001
printf '[%.0f][%#.0f][%g][%#g][%+.1e]\n' 3 3 3 3 12345
printf '%.1f %f %f\n' 1.5x ' 2' 0x10
echo "status=$?"

echo '--- printf strings'
printf '[%5s][%-5s][%.2s][%6.2s][%.s][%06s]\n' abc abc abc abc abc 42
printf '[%c][%c][%3c][%-3c]\n' ABC z x y
printf 'a%cb' | hex
printf '%c' '' | hex
printf '[%q] [%q] [%5q] [%.3q] [%5.1Q]\n' 'a b' '' x 'a b' 'a b'
printf '[%b] [%b] [%b] [%b] [%b]\n' '\101\0102' 'a\tb' '\q' 'x\' '\x41\x4'
printf '%b|%s\n' 'stop\chere' never
echo "status=$?"
printf '%s-%s\n' a b c
printf 'x\n' extra args
printf '%s\n'
printf '\101\0101\x41\x4g[\"\?\c]\n'
printf '\x' | hex
printf '[%%][%5%]\n'
echo "status=$?"
printf 'ab%'
echo " status=$?"
printf 'cd%z' 1
echo " status=$?"
printf '%s%n|%s\n' abc count def
echo "count=$count"

echo '--- printf -v'
printf -v v '%s=%d' n 5
echo "$v"
printf -vw %s attached
echo "$w"
a=(x y z)
printf -v 'a[1]' %s Y
echo "${a[@]}"
printf -v bad 'ab%dcd' 4x
echo "status=$? bad=$bad"
printf -v cut 'ab\0cd'
echo "cut=$cut ${#cut}"
printf -v 'a[' %s x
echo "status=$?"
printf -v 1x %s x
echo "status=$?"
printf -v
echo "status=$?"
printf -q x
echo "status=$?"
printf -- '-%s-\n' dash
readonly ro=1
printf -v ro %s 2
echo "status=$? ro=$ro"
printf -v empty ''
echo "empty=[$empty] status=$?"

echo '--- printf %()T'
export TZ=UTC
printf '%(%Y-%m-%d %H:%M:%S %Z %z)T\n' 1557978599
printf '[%12.4(%F)T] [%-12(%H:%M)T]\n' 0 3600
printf '%(%s %j %a %b)T|%(%%)T\n' 1234567890 0
printf '%()T\n' 45296
printf '%(%F)T %s\n' 0 a 86400 b
printf '%(%F)T\n' -86400 abc
echo "status=$?"
TZ=JST-9
printf '%(%F %T %Z %z)T\n' 1557978599
TZ='EST5EDT,M3.2.0,M11.1.0'
printf '%(%F %T %Z)T\n' 1557978599 1547000000 1552201199 1552201200
TZ='<+0330>-3:30'
printf '%(%F %T %Z %z)T\n' 1557978599
export -n TZ
TZ=XYZ-7
z=$(printf '%(%Z)T' 0)
test "$z" != XYZ && echo 'unexported TZ ignored'
export TZ
printf '%(%H %Z)T\n' 0
test "$(printf '%(%Y)T')" -gt 2000 && echo 'no argument: now'
test "$(printf '%(%Y)T' -1)" -gt 2000 && echo '-1: now'
# 31 years are 124 bytes; 32 do not fit bash's 128-byte buffer.
long=$(printf '%%Y%.0s' $(seq 31))
printf "%(${long})T\n" 0 | wc -c
printf "%(${long}%Y)T\n" 0 | wc -c
printf 'x%(%Y)\n' 0
echo "status=$?"

echo '--- umask'
umask 022
umask
umask -S
umask -p
umask -p -S
umask 0002
umask g-w,o-w
umask
umask u=r,g=w,o=x
umask
umask 0777
umask u+r,g+w,o+x
umask
umask 0111
umask u=rwx,u=rw,u=r,u=,g=rwx
umask
umask 0124
umask a-r
umask
umask 0124
umask =rx
umask
umask 0124
umask 'u-r,u-r'
umask
umask -S 027
umask 1234567
echo "status=$?"
umask 089
echo "status=$?"
umask 7777
umask
umask 0124
for bad in b=rwx 'u+r,,u-r' a=X a+s u+r+w '' 'u+r,' -rwx; do
    umask "$bad" 2>/dev/null
    echo "$bad: status=$? $(umask)"
done
umask - >/dev/null
umask
(umask 077; umask)
umask
x=$(umask 0)
umask
tmp=$(mktemp -d)
umask 0027
echo data > "$tmp/f"
ls -l "$tmp/f" | cut -c1-10
rm -r "$tmp"

echo '--- NUL bytes'
s=$(printf 'a\0b\0')
echo "len=${#s} [$s]"
s=$(printf '\000.\000')
echo "len=${#s}"
t=${s#?}
echo "len=${#t}"
printf 'x\0y\nz\n' | { read -r l; echo "read: $l ${#l}"; }
printf '.\000.' | { read -n 3 l; echo "read -n: $l ${#l}"; }
printf 'ab\0cd\0' | { read -r -d '' l; echo "read -d '': $l"; }
printf 'p\0q\nr\0s\n' | { mapfile -t m; echo "mapfile: ${#m[@]} ${m[*]}"; }
