# bash extension: {name}>file redirections allocate a descriptor.
dir=$(mktemp -d)
exec {out}>"$dir/log"
[[ $out -ge 10 ]] && echo "got a descriptor of 10 or more"
echo "first" >&$out
printf 'second\n' >&"$out"
exec {out}>&-
cat "$dir/log"
exec {in}<"$dir/log"
read -r line <&$in
echo "read back: $line"
exec {in}<&-
exec {a}>"$dir/a" {b}>"$dir/b"
[[ $a != "$b" ]] && echo "two different descriptors"
echo A >&$a; echo B >&$b
exec {a}>&- {b}>&-
cat "$dir/a" "$dir/b"
exec {app}>>"$dir/a"
echo more >&$app
exec {app}>&-
cat "$dir/a"
rm -r "$dir"
