# Special parameters: $?, $$, $#, $0 basename, $-, ~.
[ "$$" -gt 0 ] && echo "\$\$ is a number"
s=$$; t=$(echo $$); [ "$s" = "$t" ] && echo "\$\$ is the same in a subshell"
false; echo "\$? $?"
echo "\$# $#"
case $- in *e*) echo "e set" ;; *) echo "e not set" ;; esac
set -e; case $- in *e*) echo "e now set" ;; esac; set +e
[ ~ = "$HOME" ] && echo "tilde is HOME"
[ ~/x = "$HOME/x" ] && echo "tilde prefix"
echo '~' "~"
echo "${0##*/}"
