# bash extension: indexed and associative arrays.
a=(one 'two words' three)
echo "${#a[@]} ${a[1]} ${a[-1]}"
for x in "${a[@]}"; do echo "<$x>"; done
a+=(four)
a[10]=ten
echo "${#a[@]} ${!a[*]}"
unset 'a[0]'
echo "${a[*]}"
declare -A m
m[k1]=v1
m[k2]='v 2'
echo "${m[k2]} ${#m[@]}"
for k in $(printf '%s\n' "${!m[@]}" | sort); do echo "$k=${m[$k]}"; done
b=("${a[@]:1:2}")
echo "${b[@]}"
