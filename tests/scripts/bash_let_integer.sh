# bash extension: let and the integer attribute.
let x=5 y=x*2
echo "x=$x y=$y"
let "z = (x + y) ** 2"; echo "z=$z"
let i=0; echo "let 0 status $?"
let i++; echo "post-increment status $? i=$i"
let 'j = i > 0 ? 10 : 20'; echo "j=$j"
let k=0x10+010; echo "k=$k"
declare -i n=3
n+=4; echo "n+=4: $n"
n=n*2; echo "n=n*2: $n"
n="1 + 2"; echo "n=\"1 + 2\": $n"
n+=n; echo "n+=n: $n"
declare -i arr=(1+1 2*3)
arr+=(4**2)
echo "integer array: ${arr[*]}"
f() { local -i c=1; c+=1; echo "local -i: $c"; }
f
declare -i p; p=5; p+=-10; echo "negative: $p"
declare +i n; n=1+1; echo "after +i: $n"
let 'a[2] = 7' 'b = a[2] * 2'; echo "array via let: ${a[2]} $b"
