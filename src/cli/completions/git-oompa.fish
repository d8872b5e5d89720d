# fish completion for git oompa (printed by `git oompa completions fish`).
#
# Save it as ~/.config/fish/conf.d/git-oompa.fish, so it is loaded with fish: it completes
# `git oompa …` and `git-oompa …`. The candidates come from git-oompa itself on each TAB.

function __git_oompa_complete
    # The words after `git [options] oompa` (or after `git-oompa`), then the current token.
    set -l words (commandline -opc)
    if test "$words[1]" = git
        set -l at (contains -i -- oompa $words)
        or return
        set words $words[(math $at + 1)..-1]
    else
        set -e words[1]
    end
    OOMPA_COMPLETE=fish git-oompa -- git-oompa $words (commandline -ct) 2>/dev/null
end

complete -c git-oompa -f -a '(__git_oompa_complete)'
complete -c git -f -n '__fish_git_using_command oompa' -a '(__git_oompa_complete)'
