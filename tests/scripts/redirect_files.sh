# Redirections to local files: >, >>, <, and their order.
dir=$(mktemp -d)
f=$dir/out.txt
echo first > "$f"
echo second >> "$f"
cat "$f"
echo replaced > "$f"
cat < "$f"
wc -l < "$f"
{ echo grouped one; echo grouped two; } > "$f"
cat "$f"
for i in 1 2 3; do echo "loop $i"; done > "$f"
cat "$f"
while read -r l; do echo "read: $l"; done < "$f"
> "$dir/empty"
wc -c < "$dir/empty"
echo "to file" >"$dir/nospace"; cat "$dir/nospace"
printf 'x\n' > "$dir/a" 2> "$dir/b"
cat "$dir/a"; wc -c < "$dir/b"
{ cat < "$dir/missing"; } 2>/dev/null
echo "missing status $?"
f2() { echo "function output"; }
f2 > "$dir/fn"; cat "$dir/fn"
rm -r "$dir"
