# for loops over words, expansions and the positional parameters.
for w in a b 'c d'; do echo "word $w"; done
list="x y  z"
for w in $list; do printf '%s,' "$w"; done; echo
for w in "$list"; do echo "[$w]"; done
set -- p1 'p 2'
for w; do echo "pos $w"; done
empty=
for w in $empty; do echo never; done
echo "empty list status $?"
for i in 1 2 3; do :; done
echo "i after loop: $i"
for i in $(echo 3 2 1); do printf '%s' "$i"; done; echo
n=0
for a in 1 2; do for b in x y; do n=$((n + 1)); printf '%s%s ' $a $b; done; done; echo "$n"
