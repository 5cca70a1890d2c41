# Here-documents: several on one line, in functions, loops and with redirections.
cat <<A; cat <<B
first A
A
then B
B
f() {
    cat <<EOF2
inside function, arg $1
EOF2
}
f one
f two
for i in 1 2; do
    cat <<EOF2
loop $i
EOF2
done
cat <<EOF2 | sed 's/^/| /' | cat
piped twice
EOF2
while read -r a; do echo "got $a"; done <<EOF2 > /dev/null
swallowed
EOF2
echo "done"
x=$(cat <<'EOF2'
$literal
EOF2
)
echo "$x"
cat <<EOF2
$(echo "subst with <<inner>>")
${undefined_var:-default in heredoc}
EOF2
