# A syntax error late in a script: bash has run every command before it
# (it reads a script a command at a time), names the line and the token,
# and exits with status 2; nothing after it runs.
# stderr: compared
echo first
f() {
    echo "in f: $1"
}
f one
for i in 1 2; do echo "loop $i"; done
ls / > /dev/null && echo an external command ran
echo last before; fi
echo never
