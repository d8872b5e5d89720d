#compdef git-oompa
# zsh completion for git oompa (printed by `git oompa completions zsh`).
#
# Save it as _git-oompa in a directory on $fpath (e.g. ~/.zfunc, with fpath+=(~/.zfunc) before
# compinit): zsh's git completion calls _git-oompa for `git oompa …`, and `git-oompa …` typed
# directly completes too. The candidates come from git-oompa itself on each TAB.

_git-oompa() {
  local line value
  local -a lines described
  lines=("${(@f)$(OOMPA_COMPLETE=zsh git-oompa -- git-oompa "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in $lines; do
    [[ -n $line ]] || continue
    value=${line%%$'\t'*}
    if [[ $line == *$'\t'* ]]; then
      described+=("${value//:/\\:}:${line#*$'\t'}")
    else
      described+=("${value//:/\\:}")
    fi
  done
  (( $#described )) || return 1
  _describe -t candidates 'git oompa' described
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _git-oompa "$@"
else
  compdef _git-oompa git-oompa
fi
