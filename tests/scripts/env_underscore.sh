# A command's `_` is its own path, not the last word of the command
# before (which may be a secret); the shell's `$_` is that last word.
echo hunter3 > /dev/null
env | grep '^_='
echo "shell: $_"
x=$(sh -c 'echo "$_"'); echo "sh: ${x##*/}"
