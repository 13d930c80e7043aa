/**
 * Sign-in: an operator's access key and secret key (requests are then signed in this tab), or an
 * Identity v3 user name and password (requests then carry the token). Nothing is sent anywhere
 * but this ecsd, and nothing outlives the tab.
 */
import { useState } from 'preact/hooks'
import { signInWithKeys, signInWithPassword, type Session } from './api.ts'
import { canSign } from './sign.ts'

/** The sign-in form. */
export function SignIn({ onSignedIn, notice }: { onSignedIn(s: Session): void; notice: string | undefined }) {
  const signing = canSign()
  const [method, setMethod] = useState<'keys' | 'password'>(signing ? 'keys' : 'password')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)

  const submit = async (e: Event) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const field = (name: string) => String(form.get(name) ?? '')
    setBusy(true)
    setError(undefined)
    try {
      onSignedIn(
        method === 'keys'
          ? await signInWithKeys(field('access_key'), field('secret_key'))
          : await signInWithPassword(field('user'), field('password'), field('project')),
      )
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} data-testid="signin">
        <h1>
          ecsd <span>dashboard</span>
        </h1>
        <p class="muted">Sign in as an operator to see the fleet.</p>
        {notice && <p class="warn">{notice}</p>}
        <div class="tabs" role="tablist">
          <button type="button" role="tab" class={method === 'keys' ? 'active' : ''} aria-selected={method === 'keys'} onClick={() => setMethod('keys')}>
            Access key
          </button>
          <button type="button" role="tab" class={method === 'password' ? 'active' : ''} aria-selected={method === 'password'} onClick={() => setMethod('password')}>
            Password
          </button>
        </div>
        {method === 'keys' ? (
          <>
            {!signing && <p class="warn">Signing needs a secure page (HTTPS, or localhost). Use a password, or open the dashboard over HTTPS.</p>}
            <label>
              Access key (AK)
              <input name="access_key" autocomplete="username" required spellcheck={false} />
            </label>
            <label>
              Secret key (SK)
              <input name="secret_key" type="password" autocomplete="current-password" required />
            </label>
            <p class="hint">
              An operator (admin) credential, e.g. from <code>ecsd credentials create --project ID --admin</code>.
            </p>
          </>
        ) : (
          <>
            <label>
              User
              <input name="user" autocomplete="username" required spellcheck={false} />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
            <label>
              Project <span class="muted">(optional)</span>
              <input name="project" spellcheck={false} />
            </label>
            <p class="hint">
              An admin user (<code>ecsd users create … --admin</code>), signed in through Identity v3.
            </p>
          </>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy || (method === 'keys' && !signing)}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
