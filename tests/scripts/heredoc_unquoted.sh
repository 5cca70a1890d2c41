# Unquoted here-documents expand parameters, commands and arithmetic.
name=world
n=3
cat <<EOF2
hello $name
sum $((n + 4)) and $(echo substituted)
escaped \$name and \`not run\` and back\\slash
'single' "double" stay
braces ${name}ly
EOF2
cat <<END | tr a-z A-Z
piped $name
END
read -r first <<X
line one $n
X
echo "$first"
f() { cat; }
f <<EOF2
into a function: $name
EOF2
