# Arithmetic assignment operators, ++ and --.
i=5
: $((i += 3)); echo $i
: $((i -= 2)); echo $i
: $((i *= 4)); echo $i
: $((i /= 5)); echo $i
: $((i %= 3)); echo $i
: $((i <<= 3)); echo $i
: $((i >>= 1)); echo $i
: $((i |= 3)); echo $i
: $((i &= 5)); echo $i
: $((i ^= 1)); echo $i
n=1
echo $((n++)) $n $((++n)) $n $((n--)) $n $((--n)) $n
echo $((a = b = 7)) $a $b
echo $((c = 2, c * 10)) $c
j=0
while [ $((j += 1)) -le 3 ]; do printf '%s ' $j; done
echo
