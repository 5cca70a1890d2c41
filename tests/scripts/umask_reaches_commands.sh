# The shell's umask reaches the commands it runs (they run on a node,
# under its keeper, not as children of the shell).
d=$(mktemp -d)
umask 077
touch "$d/private"; stat -c %a "$d/private"
mkdir "$d/dir"; stat -c %a "$d/dir"
umask 022
touch "$d/shared"; stat -c %a "$d/shared"
(umask 027; touch "$d/sub"; stat -c %a "$d/sub")
umask
x=$(umask 007; umask); echo "in \$(): $x, after: $(umask)"
umask 002 | cat; umask
{ umask 066; touch "$d/bg"; } & wait; stat -c %a "$d/bg"; umask
f() { umask 033; }; f; umask
rm -r "$d"
