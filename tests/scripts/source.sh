# . and source run a file in the current shell, with its own arguments.
dir=$(mktemp -d)
cat > "$dir/lib.sh" <<'EOF2'
libvar="set by lib"
greet() { echo "hello $1"; }
echo "sourcing with $# args: $*"
return 3
echo "not reached after return"
EOF2
. "$dir/lib.sh"
echo "status $?"
echo "$libvar"
greet world
set -- outer args
source "$dir/lib.sh" one two
echo "after: $*"
printf 'x=$((x + 1))\n' > "$dir/inc.sh"
x=0
. "$dir/inc.sh"; . "$dir/inc.sh"
echo "x=$x"
rm -r "$dir"
