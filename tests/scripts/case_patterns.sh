# case with glob patterns, alternatives and quoting.
match() {
    case $1 in
        a|b) echo "$1: a or b" ;;
        [0-9]) echo "$1: digit" ;;
        [!a-z]*) echo "$1: starts with non-lowercase" ;;
        ?x) echo "$1: two chars ending in x" ;;
        *.txt | *.md) echo "$1: document" ;;
        'lit*') echo "$1: literal star" ;;
        "") echo "empty" ;;
        *) echo "$1: other" ;;
    esac
}
for w in a b 7 Zed ax notes.txt README.md 'lit*' literal ''; do match "$w"; done
p='*.c'
case main.c in $p) echo "pattern from variable" ;; esac
case main.c in "$p") echo "quoted: no" ;; *) echo "quoted variable is literal" ;; esac
case x in x) echo one ;& y) echo "fall through" ;; esac
case abc in a*) echo first ;; ab*) echo second ;; esac
case foo in bar) ;; esac
echo "no match status $?"
case x in (x) echo "parenthesised pattern" ;; esac
