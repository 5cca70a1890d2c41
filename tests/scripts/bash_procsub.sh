# bash extension: process substitution read by commands of the shell.
while read -r line; do echo "loop: $line"; done < <(printf '%s\n' one two)
mapfile -t arr < <(seq 3); echo "mapfile: ${arr[*]}"
read -r first rest < <(echo "hello big world"); echo "read: $first / $rest"
count_lines() { local n=0; while read -r _; do n=$((n + 1)); done < "$1"; echo "$n lines"; }
count_lines <(seq 4)
both() { local a b; read -r a < "$1"; read -r b < "$2"; echo "both: $a $b"; }
both <(echo left) <(echo right)
source <(echo 'sourced=$((6 * 7))'); echo "sourced $sourced"
wc -l < <(printf 'x\ny\nz\n')
sort < <(printf 'b\na\n')
total=0
while read -r n; do total=$((total + n)); done < <(seq 10)
echo "total $total (the loop ran in this shell)"
