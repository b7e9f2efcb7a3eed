// An admin page's action: run it, say it is done (or why it failed) in a toast, and reload the page's list.
import { toast } from '../common/components/toast.js';

export function acting(reload) {
  return async (fn, done) => {
    try {
      await fn();
      toast(done);
      reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  };
}
