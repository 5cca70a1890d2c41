# bash extension: read -a, -d, -n, -N, -u, -r and -t 0.
read -r -a words <<< "alpha beta  gamma"
echo "${#words[@]}: ${words[1]}"
IFS=: read -r -a fields <<< "a:b::d"
echo "${#fields[@]} fields: ${fields[*]}"
read -r -d , first <<< "one,two"
echo "delimited: $first"
read -r -d '' all <<< $'line1\nline2'
echo "to end: ${all//$'\n'/|}"
read -r -n 3 three <<< "abcdef"
echo "n 3: $three"
read -r -N 4 four <<< $'ab\ncd'
echo "N 4: ${four//$'\n'/\\n}"
printf 'x\ny\n' > /dev/null
dir=$(mktemp -d)
printf 'from3\nsecond3\n' > "$dir/f"
exec 3< "$dir/f"
read -r -u 3 u1
read -r -u 3 u2
exec 3<&-
echo "u: $u1 $u2"
read -r raw <<< 'back\slash'
read cooked <<< 'back\slash'
echo "raw $raw cooked $cooked"
read -r <<< "  keeps spaces  "
echo "[$REPLY]"
read -r a b <<< "  trims spaces  "
echo "[$a][$b]"
{ read -r l1; read -r l2; } < "$dir/f"
echo "group: $l1 $l2"
read -r nothing < /dev/null; echo "eof: $?"
rm -r "$dir"
