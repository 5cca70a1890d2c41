# Associative arrays list their keys in bash's order (its hash table's),
# which scripts see through ${!m[@]}, ${m[@]} and declare -p.
declare -A days=([mon]=eggs [tue]=bread [wed]=rice [sun]=jam)
echo "${!days[@]}"
echo "${days[@]}"
days[1]=one
days[mon]=toast
declare -p days
unset 'days[tue]'
echo "${!days[@]}"
declare -A m
for k in alpha beta gamma delta epsilon zeta eta theta iota kappa; do m[$k]=${#k}; done
for k in "${!m[@]}"; do printf '%s=%s ' "$k" "${m[$k]}"; done; echo
declare -A n=(k1 v1 k2 v2 k3 v3)
declare -p n
