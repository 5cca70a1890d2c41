# bash extension: case modification expansions.
s="hello World"
echo "${s^^}|${s,,}|${s^}|${s,}"
echo "${s^^[lo]}|${s,,[W]}"
u="UPPER lower"
echo "${u,,}|${u^^}|${u,}"
a=(alpha beta gamma)
echo "${a[@]^}"
echo "${a[@]^^}"
set -- one two
echo "${@^}"
echo "${s@U}|${s@L}|${s@u}"
e=""
echo "[${e^^}]"
name=world; echo "Hello, ${name^}!"
