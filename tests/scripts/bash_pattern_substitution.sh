# bash extension: pattern substitution expansions.
s="hello world, hello moon"
echo "${s/hello/bye}"
echo "${s//hello/bye}"
echo "${s/#hello/start}"
echo "${s/%moon/sun}"
echo "${s/%hello/x}"
echo "${s//o/}"
echo "${s//[aeiou]/_}"
echo "${s/w*,/X}"
p=/usr/local/bin
echo "${p//\//:}"
echo "${s/hello/[&]}"
echo "${s//l/\&}"
a=(one two three)
echo "${a[@]/o/0}"
echo "${a[@]//e/E}"
set -- foo bar
echo "${@/o/O}"
pat=o; rep=0
echo "${s//$pat/$rep}"
echo "${s//"o w"/_}"
empty=
echo "[${empty/x/y}]"
