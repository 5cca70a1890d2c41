# Corners found by trying scripts: a bare 0x is 0, `type` names an alias
# only where aliases are expanded, `kill -l` lays the table out as bash.
echo $(( 0x + 1 )) $((0X)) $(( 0x ))
alias ll='ls -l'
type -t ll; echo "type: $?"
shopt -s expand_aliases
type -t ll; echo "type: $?"
kill -l
kill -l 15 SIGKILL 130
