# bash extension: indirect expansion.
target="the value"
ref=target
echo "${!ref}"
arr=(a b c)
ref='arr[1]'
echo "${!ref}"
ref='arr[@]'
echo "${!ref}"
prefix_one=1 prefix_two=2 other=3
echo "${!prefix_*}"
for v in "${!prefix_@}"; do echo "$v=${!v}"; done
declare -A m=([k]=v)
echo "${!m[@]}"
set -- first second
n=2; echo "${!n}"
ref=unset_thing; echo "[${!ref}]"
ref=target; echo "${#!ref}" 2>/dev/null || true
echo "${!ref:0:3}"
