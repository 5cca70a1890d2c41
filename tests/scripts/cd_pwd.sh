# cd and pwd, and relative paths for commands run after cd.
dir=$(mktemp -d)
mkdir -p "$dir/a/b"
cd "$dir/a"
[ "$(pwd)" = "$dir/a" ] && echo "pwd is a"
[ "$PWD" = "$dir/a" ] && echo "PWD is a"
cd b && echo "relative cd ok: ${PWD##*/}"
cd ..; echo "up: ${PWD##*/}"
echo content > here.txt
cat here.txt
ls
cd "$dir/a/b"; cd - > /dev/null; echo "back with -: ${PWD##*/} old: ${OLDPWD##*/}"
cd /nonexistent-nsh 2>/dev/null || echo "cd failed, still in ${PWD##*/}"
cd /
rm -r "$dir"
