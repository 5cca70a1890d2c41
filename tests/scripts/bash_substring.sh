# bash extension: substring expansions.
s="abcdefgh"
echo "${s:2}|${s:1:3}|${s: -3}|${s: -3:2}|${s:2:-1}|${s:(-2)}"
echo "${s:0:0}|${s:10}|${s:8}"
n=3; echo "${s:n}|${s:n-1:n}"
set -- p1 p2 p3 p4
echo "${@:2}|${@:2:2}|${*:3}|${@: -1}"
a=(zero one two three)
echo "${a[@]:1}|${a[@]:1:2}|${a[*]: -2}"
echo "${#s}|${#a[@]}|${#a[1]}"
