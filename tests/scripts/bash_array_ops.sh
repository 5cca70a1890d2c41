# bash extension: indexed array operations.
a=(zero one two three four)
echo "count ${#a[@]}, last ${a[-1]}, second to last ${a[-2]}"
echo "slice: ${a[@]:1:2} | from 3: ${a[@]:3} | last two: ${a[@]: -2}"
echo "keys: ${!a[@]}"
echo "length of a[2]: ${#a[2]}"
a[1]+=-plus
a+=(five six)
echo "${a[*]}"
unset 'a[0]' 'a[-1]'
echo "after unset: ${#a[@]} keys ${!a[*]}"
sparse=([3]=c [1]=a [7]=g)
echo "sparse: ${sparse[*]} keys ${!sparse[*]}"
sparse+=(h)
echo "appended at ${!sparse[*]}"
i=2
nums=([i]=two [i+1]=three)
echo "arithmetic subscripts: ${!nums[*]} -> ${nums[*]}"
copy=("${a[@]}")
echo "copy has ${#copy[@]}: ${copy[0]}"
words=("a b" c "d  e")
printf '<%s>' "${words[@]}"; echo
printf '<%s>' ${words[@]}; echo
IFS=,; echo "joined: ${words[*]}"; IFS=$' \t\n'
echo "replace: ${a[@]/o/0}"
echo "upper: ${a[@]^^}"
echo "prefix strip: ${a[@]#t}"
declare -a empty=()
echo "empty: ${#empty[@]} [${empty[*]}]"
s=scalar
s[1]=second
echo "scalar became array: ${s[0]} ${s[1]} ${#s[@]}"
unset s
echo "unset whole: [${s[*]}] ${#s[@]}"
for i in "${!words[@]}"; do echo "$i=${words[i]}"; done
m=(x y z); m=(); echo "reassigned empty: ${#m[@]}"
arr=(1 2 3); arr[5]=6; echo "${arr[@]} / ${#arr[@]}"
echo "${arr[@]:2:2}"
