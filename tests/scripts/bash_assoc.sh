# bash extension: associative arrays.
declare -A color=([apple]=red [banana]=yellow ["key with space"]=blue)
echo "apple is ${color[apple]}, ${#color[@]} entries"
echo "spaced: ${color[key with space]}"
k=banana
echo "by variable: ${color[$k]}"
color[cherry]=dark
color[apple]+=dish
printf '%s\n' "${!color[@]}" | sort
for key in $(printf '%s\n' "${!color[@]}" | sort | tr ' ' _); do
    key=${key//_/ }
    echo "$key -> ${color[$key]}"
done
unset 'color[banana]'
echo "after unset: ${#color[@]}"
[[ -v color[apple] ]] && echo "apple is set"
[[ -v color[banana] ]] || echo "banana is not"
declare -A count
for w in a b a c a b; do count[$w]=$(( ${count[$w]:-0} + 1 )); done
for w in a b c; do echo "$w: ${count[$w]}"; done
declare -A n=([x]=1)
(( n[x] += 5 ))
(( n[y]++ ))
echo "arith: ${n[x]} ${n[y]}"
declare -A one=([only]="a value")
declare -p one
declare -A pairs=(k1 v1 k2 v2)
echo "pairs: ${pairs[k1]} ${pairs[k2]}"
f() { local -A loc=([in]=side); echo "local assoc: ${loc[in]}"; }
f
echo "outside: [${loc[in]}]"
declare -A e
echo "empty assoc: ${#e[@]}"
e[z]=last; e+=([y]=more)
echo "${e[z]} ${e[y]}"
