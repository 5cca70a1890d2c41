# while and until loops.
i=0
while [ $i -lt 4 ]; do echo "while $i"; i=$((i + 1)); done
until [ $i -eq 0 ]; do echo "until $i"; i=$((i - 1)); done
while false; do echo never; done
echo "status $?"
n=3
while n=$((n - 1)); [ $n -ge 0 ]; do printf '%s ' $n; done; echo
s=
until [ ${#s} -ge 5 ]; do s="$s."; done; echo "$s"
