# Exit statuses of external commands: codes, signals, not found, not executable.
sh -c 'exit 3'; echo "exit 3 -> $?"
sh -c 'exit 255'; echo "exit 255 -> $?"
sh -c 'kill -TERM $$'; echo "SIGTERM -> $?"
sh -c 'kill -KILL $$'; echo "SIGKILL -> $?"
true; echo "true -> $?"
/bin/false; echo "/bin/false -> $?"
no-such-command-nsh-test 2>/dev/null; echo "not found -> $?"
dir=$(mktemp -d)
printf 'echo hi\n' > "$dir/noexec"
"$dir/noexec" 2>/dev/null; echo "not executable -> $?"
chmod +x "$dir/noexec"
"$dir/noexec"; echo "made executable -> $?"
rm -r "$dir"
grep -q needle /dev/null; echo "grep no match -> $?"
if sh -c 'exit 1'; then echo yes; else echo "if sees failure"; fi
sh -c 'exit 2' || echo "|| sees $?"
