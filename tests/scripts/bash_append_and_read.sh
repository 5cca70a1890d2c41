# Appending in place (a+=, s+=) and reading files line by line: what the
# fast paths (issue #21) must keep exactly as bash has it.
a=(x); a+=(y z); echo "${#a[@]} ${a[*]}"
a+=(); echo "${#a[@]}"
s=abc; s+=def; s+=; echo "$s"
b=(one two); b+=three; echo "${b[*]}"
declare -i n=5; n+=3; echo "$n"
declare -ai ia=(1 2); ia+=(3+4); echo "${ia[*]}"
unset u; u+=x; echo "$u"
unset v; v+=(first); echo "${#v[@]} ${v[0]}"
w=scalar; w+=(second); echo "${#w[@]} ${w[*]}"
sp=([5]=five); sp+=(six); echo "${!sp[*]} ${sp[*]}"
f() { local l=a; l+=b; g+=("$l"); echo "$l"; }; g=(); f; f; echo "${g[*]}"
c=(); for i in 1 2 3; do c+=("$i x"); done; printf '[%s]' "${c[@]}"; echo
t=; for i in $(seq 200); do t+="$i,"; done; echo "${#t} ${t:0:10}"
(readonly r=1; r+=2) 2>/dev/null; echo "readonly append: $?"
(readonly ra=(1); ra+=(2)) 2>/dev/null; echo "readonly array append: $?"

dir=$(mktemp -d)
printf 'l1 a\nl2 with \\\n cont\nl3\n\nlast-no-newline' > "$dir/f"
{ read x; read y; read -r z; read e; read q; echo "rc $? [$x|$y|$z|$e|$q]"; } < "$dir/f"
exec 3< "$dir/f"
read -r one <&3
mapfile -t rest <&3
echo "$one / ${#rest[@]} / ${rest[0]} / ${rest[-1]}"
exec 3<&-
n=0; while read -r line; do n=$((n+${#line})); done < "$dir/f"; echo "chars $n"
while IFS=' ' read -r k v; do echo "k=$k v=$v"; done < "$dir/f"
printf 'a:b:c\n' > "$dir/g"
IFS=: read -r p1 p2 < "$dir/g"; echo "$p1 $p2"
read -d : d1 < "$dir/g"; echo "d1=$d1"
read -n 3 n3 < "$dir/g"; echo "n3=$n3"
mapfile -O 2 -t m < "$dir/g"; m2=(keep); mapfile -O 1 -t m2 < "$dir/g"; echo "${!m[*]} ${m2[*]}"
for i in 1 2 3; do [[ x$i =~ ^x([0-9])$ ]] && echo "${BASH_REMATCH[1]}"; done
[[ abc =~ b(x)? ]] && echo "opt [${BASH_REMATCH[1]}] ${#BASH_REMATCH[@]}"
rm -r "$dir"
