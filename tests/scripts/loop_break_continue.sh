# break and continue, with levels.
for i in 1 2 3 4 5; do
    [ $i -eq 2 ] && continue
    [ $i -eq 4 ] && break
    echo "i=$i"
done
for i in 1 2 3; do
    for j in a b c; do
        [ $j = b ] && continue 2
        [ $i = 3 ] && break 2
        echo "$i$j"
    done
    echo "not reached"
done
echo "after nested: $i $j"
k=0
while true; do
    k=$((k + 1))
    until false; do
        [ $k -ge 3 ] && break 2
        break
    done
done
echo "k=$k"
for x in 1 2; do for y in 1 2; do for z in 1 2; do
    [ $z = 2 ] && continue 3
    echo "$x$y$z"
done; done; done
