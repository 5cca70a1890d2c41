# Constructs bash parses that brush-parser did not (nsh's fork):
# `case` patterns without `(` inside $( ), `for x in;`, brace-group loop
# bodies, and `select`.
# stderr: compared
kind=$(case txt in
  txt) echo text ;;
  *) echo other ;;
esac)
echo "kind=$kind"
echo "inline: $(case a in a) echo A;; esac) and $(case b in (a) echo A;; b|c) echo B;; esac)"
echo "nested: $(case x in x) case y in y) echo deep;; esac;; esac)"
set -- p1 p2
for w in; do echo "never $w"; done
echo "empty list runs nothing"
for w in a b; { echo "brace body $w"; }
for ((i = 0; i < 2; i++)) { echo "arith brace $i"; }
PS3='pick> '
select fruit in apple banana cherry; do
    echo "picked ${fruit:-nothing} (REPLY=$REPLY)"
    [[ $fruit == banana ]] && break
done <<'IN'
1
9

2
IN
echo "select status $?"
select x in one; do echo "got $x"; done < /dev/null
echo "at end of input: $?"
select p; do echo "positional $p"; break; done <<< 2
