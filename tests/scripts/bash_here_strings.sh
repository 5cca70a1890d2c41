# bash extension: here-strings and &> redirections.
read -r a b <<< "first second third"
echo "[$a] [$b]"
v="multi word value"
cat <<< "$v"
wc -w <<< $v
tr a-z A-Z <<< 'quoted $v stays'
while read -r line; do echo "line: $line"; done <<< $'one\ntwo'
read -r -a parts <<< "x y z"; echo "${#parts[@]} parts, last ${parts[2]}"
n=5; cat <<< "arith $((n * 2)) and $(echo subst)"
dir=$(mktemp -d)
{ echo out; echo err >&2; } &> "$dir/both"
sort "$dir/both"
{ echo more; } &>> "$dir/both"
wc -l < "$dir/both"
ls /nonexistent-nsh-path &> /dev/null || echo "ls failed quietly: $?"
echo piped 2>&1 | cat
rm -r "$dir"
