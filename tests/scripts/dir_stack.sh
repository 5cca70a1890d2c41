# pushd, popd and dirs: bash's directory stack (entry 0 is the shell's
# directory, so cd replaces it).
cd /
pushd /tmp
pushd /usr > /dev/null
dirs -v
dirs -p
pushd
pwd
cd /dev
dirs
popd
popd
popd; echo "empty: $?"
HOME=/usr
pushd /usr/bin > /dev/null
dirs
dirs -l
dirs -c
dirs
pushd -z; echo "bad option: $?"
pushd . . ; echo "two dirs: $?"
pushd /no/such/dir; echo "missing: $?"
