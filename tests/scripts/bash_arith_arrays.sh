# bash extension: arithmetic with arrays, assignment operators, bases.
a=(10 20 30)
echo $(( a[0] + a[2] ))
(( a[1] += 5 )); echo "${a[1]}"
i=1; (( a[i+1] *= 2 )); echo "${a[2]}"
echo $(( ${#a[@]} * 2 ))
(( x = 5, y = x * 2, z = y - 1 )); echo "$x $y $z"
(( n = 2 ** 10 )); echo "$n"
echo $(( 16#ff + 2#101 + 8#17 ))
echo $(( -7 / 2 )) $(( -7 % 2 ))
echo $(( 1 << 4 | 3 )) $(( 0xF0 & 0x3C )) $(( 5 ^ 3 )) $(( ~0 ))
echo $(( 3 > 2 ? 100 : 200 ))
c=0; (( c++ )); (( ++c )); (( c-- )); echo "c=$c"
(( v = 7 )); (( v %= 4 )); (( v <<= 2 )); echo "v=$v"
declare -A m=([k]=1)
(( m[k] += 9 )); echo "${m[k]}"
s=3+4; echo $(( s * 2 ))
echo $(( 010 + 0x10 ))
(( 0 )) || echo "zero is false"
(( 2 > 1 && 1 > 0 )) && echo "logic"
for (( i = 0, j = 10; i < 3; i++, j-- )); do printf '%s:%s ' $i $j; done; echo
