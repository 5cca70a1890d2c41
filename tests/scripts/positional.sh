# $@, $*, $# and "$@" with arguments holding spaces.
show() { echo "$# args"; for a in "$@"; do echo "  <$a>"; done; }
set -- 'a b' c '' '  d  '
echo "count $#"
show "$@"
show $@
show "$*"
show $*
IFS=:
show "$*"
IFS=' 	
'
show "x$@y"
show "${1}" "${4}"
set --
show "$@"
show "$*"
