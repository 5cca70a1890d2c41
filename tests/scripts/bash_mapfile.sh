# bash extension: mapfile/readarray.
mapfile -t lines <<'EOF2'
first
second line
third
EOF2
echo "${#lines[@]}: ${lines[1]}"
mapfile keep <<< $'x\ny'
printf '[%s]' "${keep[@]}"; echo
readarray -t -s 1 -n 2 part <<'EOF2'
a
b
c
d
EOF2
echo "skip/count: ${part[*]}"
mapfile -t -d , csv <<< 'p,q,r'
printf '<%s>' "${csv[@]}"; echo
mapfile -t -O 3 lines <<< 'appended'
echo "origin: ${!lines[*]} -> ${lines[3]}"
mapfile -t < <(printf '%s\n' one two)
echo "MAPFILE: ${MAPFILE[*]}"
dir=$(mktemp -d)
printf 'f1\nf2\nf3\n' > "$dir/file"
exec 3< "$dir/file"
mapfile -t -u 3 -n 1 fromfd
read -r rest <&3
exec 3<&-
echo "fd: ${fromfd[*]}, then read: $rest"
mapfile -t sorted < <(printf 'c\na\nb\n' | sort)
echo "sorted: ${sorted[*]}"
rm -r "$dir"
mapfile -t nothing < /dev/null
echo "empty input: ${#nothing[@]}"
