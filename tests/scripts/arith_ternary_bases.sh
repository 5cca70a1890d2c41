# Ternary operator, comparisons in conditions, and number bases.
x=5
echo $((x > 3 ? 1 : 0)) $((x > 10 ? 100 : x < 0 ? -1 : 50))
echo $((x ? x : 9)) $((0 ? 1 : 2))
echo $((0x1f)) $((0XFF)) $((010)) $((0)) $((2#1011)) $((8#17)) $((16#ff)) $((36#z)) $((64#_))
h=0x10
echo $((h + 1)) $((h * 2))
echo $(( (x & 1) ? 1 : 0 ))
max() { echo $(( $1 > $2 ? $1 : $2 )); }
max 3 9
max 12 9
